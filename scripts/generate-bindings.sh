#!/usr/bin/env bash
# Builds libfieldcase_ffi for this machine and generates its Kotlin and Swift sources with the
# workspace's own uniffi-bindgen (library mode: the interface is read from the built library,
# so the sources always match it).
#
#   scripts/generate-bindings.sh [--release] [--features LIST] [--language kotlin|swift|all]
#                                [--android] [--out DIR]
#
#   --release      build the library with the release profile (default: debug)
#   --features     cargo features of fieldcase-ffi, e.g. insecure-test-kdf (tests only!)
#   --language     which sources to generate (default: all)
#   --android      Kotlin for Android (Android's cleaner) rather than a desktop JVM
#   --out DIR      where to write them (default: <target dir>/uniffi); Kotlin goes to
#                  DIR/kotlin, Swift to DIR/swift
#
# Honours CARGO_TARGET_DIR. Prints the library's absolute path last, for scripts that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
features=""
languages="kotlin swift"
android=false
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
out="$target_dir/uniffi"
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release ;;
        --features) features="$2"; shift ;;
        --language) [ "$2" = all ] && languages="kotlin swift" || languages="$2"; shift ;;
        --android) android=true ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done

cargo_args=(--locked -p fieldcase-ffi)
[ "$profile" = release ] && cargo_args+=(--release)
[ -n "$features" ] && cargo_args+=(--features "$features")
cargo build "${cargo_args[@]}" >&2
cargo build --locked -p uniffi-bindgen >&2

case "$(uname -s)" in
    Darwin) library="$target_dir/$profile/libfieldcase_ffi.dylib" ;;
    *) library="$target_dir/$profile/libfieldcase_ffi.so" ;;
esac

for language in $languages; do
    config_args=()
    if [ "$language" = kotlin ] && [ "$android" = true ]; then
        config_args=(--config ffi/uniffi-android.toml)
    fi
    rm -rf "${out:?}/$language"
    "$target_dir/debug/uniffi-bindgen" generate --library "$library" --language "$language" \
        --out-dir "$out/$language" --no-format "${config_args[@]}" >&2
    echo "generated $language sources in $out/$language" >&2
done
echo "$library"
