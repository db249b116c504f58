#!/bin/sh
# ipmi_sim "chassis_control" program of the IPMI lab.
#
# lan.conf names it as   chassis_control "<this script> <power file>"
# and ipmi_sim runs it (through popen) with the request appended:
#   <script> <power file> get power          -> prints "power:0" or "power:1"
#   <script> <power file> set power 0|1      -> exit 0
#   (also set reset/shutdown/boot/identify, get boot)
# The power file holds 1 (on) or 0 (off) and is replaced atomically; every
# "set" is appended to "<power file>.log" so tests can see what the BMC did.
F=$1
shift
[ -n "$F" ] || exit 1
[ -f "$F" ] || echo 1 > "$F"

put() {
    echo "$1" > "$F.tmp.$$" && mv -f "$F.tmp.$$" "$F"
}

op=$1
shift
case "$op" in
get)
    for item in "$@"; do
        case "$item" in
            power) echo "power:$(cat "$F")" ;;
            boot) echo "boot:default" ;;
        esac
    done
    ;;
set)
    echo "$(date +%s.%N) set $*" >> "$F.log"
    while [ $# -ge 2 ]; do
        case "$1" in
            power) put "$2" ;;
            shutdown) put 0 ;;
            reset | identify | boot) : ;;
        esac
        shift 2
    done
    ;;
esac
exit 0
