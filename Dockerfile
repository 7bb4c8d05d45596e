# A machine with TensorRT for the `tensorrt` backend (and everything else): NVIDIA's PyTorch
# container ships TensorRT and Torch-TensorRT; the benchmark installs on top with its GPU extras.
#   docker build -t mobench .
#   docker run --gpus all --rm -v $PWD/outputs:/work/outputs -v $PWD/data:/work/data mobench \
#     python -m benchmark -m model=resnet backend=tensorrt,eager precision=fp32,fp16 batch_size=1,64
FROM nvcr.io/nvidia/pytorch:25.10-py3
WORKDIR /work
COPY . .
# Keep the container's own torch, torchvision and TensorRT builds: install the rest only.
RUN pip install --no-cache-dir --no-deps -e . && \
    pip install --no-cache-dir hydra-core omegaconf mlflow onnx onnxscript onnxruntime-gpu torchmetrics \
        scikit-learn nvidia-ml-py pandas tabulate matplotlib tqdm psutil transformers torchao nvidia-modelopt
CMD ["python", "-m", "benchmark", "--help"]
