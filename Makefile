# The two commands of README.md: `make run` (the gateway on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

# The test suite runs on PostgreSQL and Redis (see scripts/check-services.sh).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cryptr_sso
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install system run test lint bench-api bench-saml migrate demo screenshots

$(VENV)/.installed: requirements.txt tests/peers/saml-idp/package-lock.json tests/peers/oidc-rp/package-lock.json \
		tests/peers/oidc-op/package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	npm ci --prefix tests/peers/saml-idp --no-audit --no-fund
	npm ci --prefix tests/peers/oidc-rp --no-audit --no-fund
	npm ci --prefix tests/peers/oidc-op --no-audit --no-fund
	touch $@

system:
	scripts/install-system-deps.sh $(SYSTEM_FLAGS)

install: system $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

run: migrate
	@echo ""
	@echo "  The gateway runs at http://127.0.0.1:8000  (admin: /admin/, API docs: /api/v2/docs)"
	@echo "  Create an operator:  $(PY) manage.py createsuperuser"
	@echo "  Create an API key:   $(PY) manage.py create_api_key --name 'my backend'"
	@echo ""
	$(PY) manage.py runserver 127.0.0.1:8000

# The suite drives Debian's chromium (browser tests): make test installs it when missing.
test: SYSTEM_FLAGS = --with-browser
test: install
	scripts/check-services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-api: install
	$(PY) benchmarks/api_users.py $(BENCH_ARGS)

# SAML logins (ACS -> code) and code-for-token exchanges per second, one gunicorn worker on 127.0.0.1:8101.
bench-saml: install
	$(PY) benchmarks/saml_logins.py $(BENCH_ARGS)

demo: migrate
	$(PY) scripts/demo.py

# A PNG of every onboarding wizard page (SAML: Okta and Entra ID; OIDC: Okta, Entra ID, Google) and of the
# invitation email, in ./screenshots/:
# a throwaway gateway (temporary SQLite), the samlify and oidc-provider test IdPs, Debian's chromium.
screenshots: SYSTEM_FLAGS = --with-browser
screenshots: install
	$(PY) scripts/screenshots.py $(SCREENSHOTS_ARGS)
