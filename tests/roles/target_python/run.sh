#!/bin/sh
# Runs modules.yml with this checkout's ansible-core against Python 3.14 (Ubuntu 26.04's):
# a Debian sid tree (its python3 is 3.14) that debootstrap makes once, used as a chroot
# through the interpreter Ansible starts (TREE.python3: `chroot TREE python3`; pipelining
# sends each module on its stdin, so nothing is copied). As root:
#   sh tests/roles/target_python/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
tree=${HTTPLAB_SID_TREE:-/var/cache/httplab/sid-python}
if [ ! -x "$tree/usr/bin/python3" ]; then
  debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    --include=python3,python3-apt,python3-venv,systemd sid "$tree" http://deb.debian.org/debian
fi
# The server set's wheels for Python 3.14 (make wheelhouse), for the venv built offline.
rm -rf "$tree/tmp/wheels"
cp -al "$repo/wheelhouse/server/py3.14" "$tree/tmp/wheels" 2>/dev/null \
  || cp -a "$repo/wheelhouse/server/py3.14" "$tree/tmp/wheels"
# Files the control node puts on the target (copy, template) go to a remote_tmp inside the
# tree, $tree/tmp/ansible; in the tree, the path $tree leads back to its root.
mkdir -p "$tree/tmp/ansible" "$tree$(dirname "$tree")"
ln -sfn / "$tree$tree"
printf '#!/bin/sh\nexec chroot %s python3 "$@"\n' "$tree" > "$tree.python3"
chmod 0755 "$tree.python3"
# The same path in the tree, for what runs a module there by its #! line (async_wrapper).
printf '#!/bin/sh\nexec python3 "$@"\n' > "$tree$tree.python3"
chmod 0755 "$tree$tree.python3"
# The code archive unarchive copies over (as tasks/code_source.yml's).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/code" && echo 'print("httplab")' > "$scratch/code/app.py"
tar -czf "$here/code.tar.gz" -C "$scratch" code
cd "$repo"
 "$repo/.venv/bin/ansible-playbook" -i "sid," -c local \
  -e "ansible_python_interpreter=$tree.python3" -e ansible_pipelining=true \
  -e "ansible_remote_tmp=$tree/tmp/ansible" \
  "$here/modules.yml" "$@" || status=$?
rm -f "$here/code.tar.gz"
exit "${status:-0}"
