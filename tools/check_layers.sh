#!/bin/sh
# check_layers.sh: every #include "../DIR/..." of the step's libraries names a layer below the
# includer (meson.build's layer table: core <- model, strategies <- step <- reference;
# core <- kernels <- attention; gpu over model, strategies, step, kernels, attention; harness
# over all). The link check (layer_check_* shared objects) catches calls; this catches headers.
# Usage: tools/check_layers.sh [SOURCE_ROOT]. Exit 0 clean, 1 with one line per wrong include.
set -u
root=${1:-$(dirname "$0")/..}
allowed() {
    case "$1" in
        core) echo "" ;;
        model|strategies|kernels) echo "core" ;;
        step) echo "core model strategies" ;;
        reference) echo "core model strategies step" ;;
        attention) echo "core strategies kernels" ;;
        gpu) echo "core model strategies step kernels attention" ;;
        harness) echo "core model strategies step reference kernels attention gpu" ;;
    esac
}
bad=0
for layer in core model strategies step reference kernels attention gpu harness; do
    [ -d "$root/$layer" ] || continue
    ok=" $(allowed "$layer") "
    for f in "$root/$layer"/*; do
        case "$f" in *.c|*.h|*.cu|*.cuh) ;; *) continue ;; esac
        for dep in $(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\.\./\([^/]*\)/.*|\1|p' "$f"); do
            case "$ok" in
                *" $dep "*) ;;
                *) echo "check_layers: ${f#"$root"/} includes $dep/ (a $layer file may include: $(allowed "$layer"))"; bad=1 ;;
            esac
        done
    done
done
[ $bad -eq 0 ] && echo "check_layers: every include points down"
exit $bad
