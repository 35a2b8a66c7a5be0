# Helpers shared by the set-up scripts (sourced, not run).

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0

# apt_ensure PKG...: install the Debian packages that are not installed yet.
apt_ensure() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    echo "installing ${missing[*]}" >&2
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# answers HOST PORT: true when something accepts TCP connections there.
answers() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_for HOST PORT WHAT: wait up to 60 s for a port to answer.
wait_for() {
    local i
    for i in $(seq 1 120); do
        answers "$1" "$2" && return 0
        sleep 0.5
    done
    echo "$3 did not start on $1:$2" >&2
    return 1
}
