# Keep an app's secrets file: python3 app_secrets.py FILE GROUP NAME...
#
# FILE holds NAME=value for each NAME given, in systemd's EnvironmentFile= format. A value is
# made once, here on the server, and kept across runs (Django's SECRET_KEY: changing it
# would log everyone out); it never travels to the control node, a manifest or a report. A
# name no longer given is dropped. Owned by root, readable by GROUP (the service's), mode
# 0640. Prints {"changed": true|false}; the values never.
import grp
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

path, group, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
kept = {}
if path.exists():
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        kept[name] = value
values = {name: kept.get(name) or secrets.token_urlsafe(48) for name in names}
text = "".join(f"{name}={value}\n" for name, value in values.items())
gid = grp.getgrnam(group).gr_gid
stat = path.stat() if path.exists() else None
current = stat and (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (0, gid, 0o640)
if current and path.read_text() == text:
    print(json.dumps({"changed": False}))
    sys.exit()
# Written whole beside the file, then renamed over it: a reader sees the old or the new.
fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
with os.fdopen(fd, "w") as file:
    file.write(text)
os.chown(scratch, 0, gid)
Path(scratch).chmod(0o640)
Path(scratch).replace(path)
print(json.dumps({"changed": True}))
