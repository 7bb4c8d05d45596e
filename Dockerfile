# A machine with TensorRT for the `tensorrt` backend (and everything else): NVIDIA's PyTorch
# container ships TensorRT and Torch-TensorRT; the benchmark installs on top with its GPU extras.
#   docker build -t mobench .
#   docker run --gpus all --rm -v $PWD/outputs:/work/outputs -v $PWD/data:/work/data mobench \
#     python -m benchmark -m model=resnet backend=tensorrt,eager precision=fp32,fp16 batch_size=1,64
FROM nvcr.io/nvidia/pytorch:25.10-py3
WORKDIR /work
COPY . .
# One dependency list, pyproject.toml's: the project with its GPU and TensorRT extras. The
# container's torch, torchvision, TensorRT and Torch-TensorRT builds already satisfy their pins.
RUN pip install --no-cache-dir -e '.[gpu,tensorrt]' && \
    # onnxruntime (a core dependency, CPU build) and onnxruntime-gpu share one module folder: keep the GPU one
    pip uninstall -y onnxruntime && pip install --no-cache-dir --force-reinstall --no-deps onnxruntime-gpu
CMD ["python", "-m", "benchmark", "--help"]
