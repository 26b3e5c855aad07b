#!/bin/sh
# memcheck.sh: runs a GPU test under compute-sanitizer's memcheck; exit 77 (skipped) when no
# sanitizer is found. Without a GPU the test itself exits 77, which the sanitizer passes on.
# usage: memcheck.sh TEST [ARGS...]
san=$(command -v compute-sanitizer 2>/dev/null)
if [ -z "$san" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ]; then san=/usr/local/cuda/bin/compute-sanitizer; fi
if [ -z "$san" ]; then echo "memcheck: compute-sanitizer not found: skipped"; exit 77; fi
exec "$san" --tool memcheck --error-exitcode 1 --leak-check no "$@"
