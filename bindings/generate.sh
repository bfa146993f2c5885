#!/usr/bin/env bash
# Generates the fuin bindings: builds the fuin-ffi library (a cdylib) and
# runs uniffi-bindgen on it in library mode (the API is read from the
# library itself, no UDL).
#
#   bindings/generate.sh [kotlin|swift|python|all]     (default: all)
#
# Writes bindings/python/ (fuin.py and the library beside it, ready to
# import), bindings/kotlin/ (uniffi/fuin/fuin.kt) and bindings/swift/
# (fuin.swift, fuinFFI.h, fuinFFI.modulemap). The generated files are not
# committed. FUIN_BINDINGS_PROFILE picks the cargo profile (release when
# unset; `dev` builds faster); CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-all}" in
    kotlin | swift | python) languages=("$1") ;;
    all) languages=(kotlin swift python) ;;
    *)
        echo "usage: bindings/generate.sh [kotlin|swift|python|all]" >&2
        exit 2
        ;;
esac

profile=${FUIN_BINDINGS_PROFILE:-release}
case "$profile" in
    dev) profile_dir=debug ;;
    *) profile_dir=$profile ;;
esac
target_dir=${CARGO_TARGET_DIR:-target}

# One build makes both the library and the generator (the `cli` feature).
cargo build --locked --profile "$profile" -p fuin-ffi --features cli

case "$(uname -s)" in
    Darwin) library=libfuin_ffi.dylib ;;
    MINGW* | MSYS* | CYGWIN*) library=fuin_ffi.dll ;;
    *) library=libfuin_ffi.so ;;
esac
library_path=$target_dir/$profile_dir/$library
bindgen=$target_dir/$profile_dir/uniffi-bindgen

for language in "${languages[@]}"; do
    out=bindings/$language
    "$bindgen" generate --library "$library_path" --language "$language" \
        --out-dir "$out" --no-format --metadata-no-deps
    if [ "$language" = python ]; then
        # fuin.py loads the library from its own folder.
        cp "$library_path" "$out/"
    fi
    echo "generated $language bindings in $out/"
done
