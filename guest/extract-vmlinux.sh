#!/bin/bash
# Extracts the uncompressed vmlinux ELF from a bzImage: finds the first
# compressed stream (by its magic bytes) whose decompression is an ELF file.
# usage: guest/extract-vmlinux.sh BZIMAGE OUTPUT
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 BZIMAGE OUTPUT" >&2; exit 2; }
image=$1 out=$2

# magic (as grep -P bytes) and the command that decompresses from stdin
formats=(
	'\x28\xb5\x2f\xfd|zstd -qdc'
	'\xfd\x37\x7a\x58\x5a\x00|xz -qdc'
	'\x1f\x8b\x08|gzip -qdc'
	'\x5d\x00\x00\x00|xz -qdc --format=lzma'
	'\x02\x21\x4c\x18|lz4 -qdc'
	'BZh|bzip2 -qdc'
)
for entry in "${formats[@]}"; do
	magic=${entry%%|*} decompress=${entry#*|}
	for offset in $(LC_ALL=C grep -obUaP "$magic" "$image" | cut -d: -f1 | head -n 8); do
		# Trailing data after the stream makes decompressors complain;
		# what counts is whether an ELF came out.
		tail -c "+$((offset + 1))" "$image" | $decompress >"$out.tmp" 2>/dev/null || true
		if [[ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" == '177ELF' ]]; then
			mv "$out.tmp" "$out"
			exit 0
		fi
	done
done
rm -f "$out.tmp"
echo "extract-vmlinux: no compressed ELF kernel found in $image" >&2
exit 1
