#!/bin/sh
# Install pagemill's ImageMagick policy over the system one (image build step, as root).
# Only replacing /etc/ImageMagick-6/policy.xml lifts Debian's "none" for the PDF coder;
# an extra policy on MAGICK_CONFIGURE_PATH can only add restrictions.
set -eu
policy="${1:-tasks/sandbox/policy/policy.xml}"
target="${2:-/etc/ImageMagick-6/policy.xml}"

if [ ! -f "$policy" ]; then
    echo "install-policy: $policy not found" >&2
    exit 1
fi
install -m 0644 "$policy" "$target"
# Fail the build when ImageMagick does not load the file it was given.
identify -list policy | grep -q "$target" || {
    echo "install-policy: ImageMagick does not read $target" >&2
    exit 1
}
echo "ImageMagick policy installed at $target"
