"""PinnerFormer training package: model, dense all-action training, evaluation and ONNX export."""
