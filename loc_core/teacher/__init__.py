"""The 2D teacher: an ONNX image segmenter whose classes paint LiDAR points (`loc-gt --teacher`).

`classes.py` the class table (teacher channels -> Occ3D ids), `segmenter.py` the onnxruntime
wrapper, `painting.py` projection, depth test and vote fusion, `config.py` the settings."""
