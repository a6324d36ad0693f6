# Keep the database user and its password: python3 postgres_password.py FILE USER PORT
#
# FILE holds the password: made once, here on the database host (root's, mode 0600), and kept
# across runs; it never travels to the control node, a manifest or a report. PostgreSQL gets
# only its SCRAM-SHA-256 verifier, computed here as libpq's PQencryptPasswordConn does, so no
# statement, log line or process list holds the password. The user is created (LOGIN) when
# missing, and given the verifier when the one it has does not match FILE (checked against
# its own salt and iterations). Waits up to 60 s for the cluster to accept connections.
# Prints {"changed": true|false, "did": [...]}; the password never.
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

path, user, port = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
ITERATIONS = 4096  # PostgreSQL's scram_iterations
PSQL = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
PSQL += ["-p", port, "-d", "postgres", "-v", f"user={user}"]
did = []


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verifier(password: str, salt: bytes, iterations: int) -> str:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def matches(password: str, stored: str) -> bool:
    """SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, of this password?"""
    found = re.fullmatch(r"SCRAM-SHA-256\$([0-9]+):([A-Za-z0-9+/=]+)\$[A-Za-z0-9+/=:]+", stored)
    if not found:
        return False
    expected = verifier(password, base64.b64decode(found[2]), int(found[1]))
    return hmac.compare_digest(expected, stored)


def psql(sql: str) -> str:
    run = subprocess.run(PSQL, input=sql, capture_output=True, text=True, cwd="/")
    if run.returncode != 0:
        raise RuntimeError(run.stderr.strip())
    return run.stdout


# The password, made once: written whole beside the file and renamed, root's, 0600.
if not path.exists():
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(32) + "\n")
    Path(scratch).replace(path)
    did.append("password made")
if (path.stat().st_uid, path.stat().st_mode & 0o777) != (0, 0o600):
    os.chown(path, 0, 0)
    path.chmod(0o600)
    did.append("password file made root's, 0600")
password = path.read_text().strip()

query = "SELECT rolcanlogin, coalesce(rolpassword, '') FROM pg_authid WHERE rolname = :'user';"
deadline = time.monotonic() + 60
while True:
    try:
        found = psql(query).split("|")
        break
    except RuntimeError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)

if found == [""]:
    verified = verifier(password, secrets.token_bytes(16), ITERATIONS)
    psql(f"CREATE ROLE :\"user\" LOGIN PASSWORD '{verified}';")
    did.append("user created")
else:
    can_login, stored = found[0], found[1].strip()
    if can_login != "t":
        psql('ALTER ROLE :"user" LOGIN;')
        did.append("user may log in")
    if not matches(password, stored):
        verified = verifier(password, secrets.token_bytes(16), ITERATIONS)
        psql(f"ALTER ROLE :\"user\" PASSWORD '{verified}';")
        did.append("password set")
print(json.dumps({"changed": bool(did), "did": did}))
