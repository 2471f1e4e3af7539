"""edgedg_export: ONNX export with BatchNorm unfolded into statistic I/O, and TensorRT engines.

tensorrt is imported only inside the engine-building functions.
"""
