# The one wait of the boot tests (sourced by them on the host and, copied into the rootfs, by
# their scripts inside the container): runs "$@" every 0.1 s until it succeeds, for at most $1
# tenths of a second; fails when it never did. The tests wait on what they can see happen, never
# for a fixed time.
wait_for() {
    _tenths=$1
    shift
    until "$@"; do
        [ "$_tenths" -gt 0 ] || return 1
        _tenths=$((_tenths - 1))
        sleep 0.1
    done
}
