#!/bin/sh
# Image build step: leaves onnxruntime-node with only its linux/x64 binding plus onnxruntime's CUDA 12
# execution provider (libonnxruntime_providers_cuda.so and _shared.so), and without TensorRT's.
# The provider comes from PROVIDERS_DIR when it holds both files (a build that cannot reach
# api.nuget.org), else from onnxruntime-node's own installer (ONNXRUNTIME_NODE_INSTALL=cuda12).
#   install-providers.sh ORT_PACKAGE_DIR PROVIDERS_DIR
set -eu

if [ "$#" -ne 2 ] || [ ! -f "$1/package.json" ]; then
  echo "usage: install-providers.sh node_modules/onnxruntime-node PROVIDERS_DIR" >&2
  exit 64
fi
ort=$1
providers=$2
version=$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' "$ort/package.json" | head -n 1)
bin=$ort/bin/napi-v6/linux/x64
required="libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so"

# Other platforms' bindings: dead weight in a linux/amd64 image.
for platform in "$ort"/bin/napi-v6/*; do
  case "$platform" in */linux) ;; *) rm -rf "$platform" ;; esac
done
for arch in "$ort"/bin/napi-v6/linux/*; do
  case "$arch" in */x64) ;; *) rm -rf "$arch" ;; esac
done
if [ ! -f "$bin/onnxruntime_binding.node" ]; then
  echo "error: $bin/onnxruntime_binding.node is missing: onnxruntime-node $version has no linux/x64 binding" >&2
  exit 1
fi

found=0
for file in $required; do [ -s "$providers/$file" ] && found=$((found + 1)); done
if [ "$found" -eq 2 ]; then
  echo "CUDA execution provider: from $providers (onnxruntime $version expected)"
  for file in $required; do cp "$providers/$file" "$bin/$file"; done
elif [ "$found" -eq 1 ]; then
  echo "error: $providers holds only one of $required; put both there (or neither, to download them)" >&2
  exit 1
else
  echo "CUDA execution provider: downloading with onnxruntime-node's installer (ONNXRUNTIME_NODE_INSTALL=cuda12)"
  ONNXRUNTIME_NODE_INSTALL=cuda12 node "$ort/script/install.js" || true
fi

# TensorRT's provider is not used (the worker asks for CUDA only) and is large.
rm -f "$bin/libonnxruntime_providers_tensorrt.so"

for file in $required; do
  if [ ! -s "$bin/$file" ]; then
    cat >&2 <<MSG
error: onnxruntime's CUDA 12 execution provider ($file) is missing, so the image could not run on a GPU.
  The download from api.nuget.org failed (see above) and $providers does not hold the files.
  Either let the build reach api.nuget.org, or copy libonnxruntime_providers_cuda.so and
  libonnxruntime_providers_shared.so from the Microsoft.ML.OnnxRuntime.Gpu.Linux $version NuGet package
  (runtimes/linux-x64/native/) into batch-container/ort-providers/ and build again (docs/deploy.md).
MSG
    exit 1
  fi
done
echo "onnxruntime-node $version: linux/x64 binding and CUDA execution provider in place"
