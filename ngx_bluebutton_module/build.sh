#!/bin/bash
# Build the dynamic module against nginx-dev's source tree with the flags
# Debian's nginx was configured with, so that load_module accepts the .so.
# The tree is copied first: configure writes into the directory it runs in.
# usage: build.sh NGINX_SRC MODULE_DIR BUILD_DIR

set -euo pipefail

src=$1
module=$2
out=$3

if [ ! -f "$src/conf_flags" ]; then
    echo "build.sh: $src/conf_flags not found: install nginx-dev" >&2
    exit 1
fi

. "$src/conf_flags"

mkdir -p "$out"

if [ ! -f "$out/src/conf_flags" ]; then
    rm -rf "$out/src"
    cp -r "$src" "$out/src"
fi

if [ ! -f "$out/objs/Makefile" ] || [ "$module/config" -nt "$out/objs/Makefile" ]
then
    (cd "$out/src" && ./configure "${NGX_CONF_FLAGS[@]}" \
        --with-cc-opt="-fPIC -g -O2" \
        --add-dynamic-module="$module" --builddir="$out/objs") \
        > "$out/configure.log" 2>&1 || {
            tail -20 "$out/configure.log" >&2
            exit 1
        }
fi

make -s -f "$out/objs/Makefile" -C "$out/src" modules
# a new file, renamed into place: a running nginx keeps its mapping intact
cp "$out/objs/ngx_http_bluebutton_module.so" "$out/.module.so.tmp"
mv -f "$out/.module.so.tmp" "$out/ngx_http_bluebutton_module.so"
