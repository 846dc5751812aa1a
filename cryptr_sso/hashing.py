import hashlib


def hash_secret(secret: str) -> str:
    """SHA-256 of a generated secret. Our secrets are 256-bit random strings, so a fast hash is as
    strong as a slow password hash here, and keeps token checks cheap."""
    return hashlib.sha256(secret.encode()).hexdigest()
