"""A stand-in for the ``tensorrt`` module that behaves as NVIDIA documents it, per version.

Only what edgedg's builder touches is here, but each behaviour that decides whether a real first
run succeeds follows the documentation it cites, so a unit test can fail where a real device
would. The "network" is the ONNX graph itself (read with the onnx package, which the export
tests have); an "engine" is JSON describing the layers and the precision each got.
"""

from __future__ import annotations

import json
import types

import onnx
from onnx import TensorProto

FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16)


class _Enum:
    def __init__(self, name: str, value: int = 0):
        self.name, self.value = name, value

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"<{self.name}>"


class FakeTensorRT(types.ModuleType):
    """``FakeTensorRT("8.5.2")`` ... ``FakeTensorRT("11.0.0")``; ``calls`` records what the
    builder did. With BuilderFlag.FP16 a graph of fewer than ``fp16_min_convs`` convolutions
    keeps every layer FP32: the flag only *allows* FP16, with FP32 fallback where it is not
    faster (C++ API, BuilderFlag::kFP16: "Enable FP16 layer selection, with FP32 fallback"),
    and on a tiny graph such as the style graph FP32 is what a builder may well pick."""

    def __init__(self, version: str, fp16_min_convs: int = 2):
        super().__init__("tensorrt")
        self.__version__ = version
        self.major, self.minor = (int(v) for v in version.split(".")[:2])
        self.calls: list = []
        self.fp16_min_convs = fp16_min_convs
        self.float32, self.float16 = "float32", "float16"
        # TensorRT 11 migration guide ("Strongly Typed Networks Are Now Required",
        # https://docs.nvidia.com/deeplearning/tensorrt/11.0.0/api/migration/tensorrt-10x-to-11x.html):
        # the precision builder flags (FP16, ...) are removed in 11.
        flags = {"OBEY_PRECISION_CONSTRAINTS": _Enum("OBEY_PRECISION_CONSTRAINTS", 16)}
        if self.major < 11:
            flags["FP16"] = _Enum("FP16", 0)
            flags["INT8"] = _Enum("INT8", 1)
        self.BuilderFlag = types.SimpleNamespace(**flags)
        # Python API, NetworkDefinitionCreationFlag (TensorRT 10.x Builder.html): "EXPLICIT_BATCH:
        # [DEPRECATED] Ignored because networks are always explicit batch in TensorRT 10.0";
        # absent from 11 (migration guide above). STRONGLY_TYPED exists from 9.x.
        creation = {}
        if self.major < 11:
            creation["EXPLICIT_BATCH"] = _Enum("EXPLICIT_BATCH", 0)
        if self.major >= 10:
            creation["STRONGLY_TYPED"] = _Enum("STRONGLY_TYPED", 1)
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(**creation)
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE=_Enum("WORKSPACE", 0))
        self.ProfilingVerbosity = types.SimpleNamespace(DETAILED=_Enum("DETAILED", 2))
        self.LayerInformationFormat = types.SimpleNamespace(JSON=_Enum("JSON", 1))
        self.Logger = _Logger
        self.Builder = lambda logger: _Builder(self)
        self.OnnxParser = lambda network, logger: _Parser(self, network)
        self.Runtime = lambda logger: _Runtime(self)

    def explicit_batch_needed(self) -> bool:
        return self.major < 10


class _Logger:
    WARNING = 2

    def __init__(self, level: int = 2):
        self.level = level


class _Network:
    def __init__(self, flags: int):
        self.flags = flags
        self.model: onnx.ModelProto | None = None
        self.layers: list = []

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_layer(self, i: int):
        return self.layers[i]


class _Layer:
    def __init__(self, node: onnx.NodeProto, trt: FakeTensorRT):
        self.node, self.name, self.op, self._trt = node, node.name, node.op_type, trt
        self.precision = None
        self.num_outputs = len(node.output)
        self.pinned: dict[int, str] = {}

    def get_output(self, j: int):
        return types.SimpleNamespace(dtype=self._trt.float32)

    def set_output_type(self, j: int, dtype: str) -> None:
        self.pinned[j] = dtype
        self._trt.calls.append(("pin", self.name, dtype))


class _Parser:
    def __init__(self, trt: FakeTensorRT, network: _Network):
        self.trt, self.network, self.errors = trt, network, []

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, i: int) -> str:
        return self.errors[i]

    def parse(self, data: bytes) -> bool:
        trt, network = self.trt, self.network
        explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        if trt.explicit_batch_needed() and not network.flags & (1 << int(explicit)):
            # TensorRT 8.x developer guide, "Explicit Versus Implicit Batch"
            # (docs.nvidia.com/deeplearning/tensorrt/developer-guide/index.html
            # #explicit-implicit-batch): explicit batch mode "is also required by the ONNX
            # parser"; the network must be created with the EXPLICIT_BATCH flag before 10.
            self.errors.append("ONNX parser only supports networks with an explicit batch")
            return False
        model = onnx.load_from_string(data)
        types_of = _elem_types(model)
        for node in model.graph.node:
            error = self._node_error(node, types_of)
            if error:
                self.errors.append(f"{node.name}: {error}")
        network.model = model
        network.layers = [_Layer(n, trt) for n in model.graph.node if n.op_type != "Constant"]
        return not self.errors

    def _node_error(self, node: onnx.NodeProto, types_of: dict) -> str:
        if node.op_type != "Cast":
            return ""
        to = next(a.i for a in node.attribute if a.name == "to")
        source = types_of.get(node.input[0])
        if source == TensorProto.INT64 and node.input[0] in self._argmax_outputs():
            source = TensorProto.INT32  # ArgMax yields INT32 inside TensorRT
        old = (self.trt.major, self.trt.minor) <= (8, 6)
        if to == TensorProto.UINT8 and source not in FLOAT_TYPES and old:
            # onnx-tensorrt 8.5 Cast importer: UINT8 only from FLOAT/HALF; TensorRT 8.6 Python
            # API, DataType.UINT8 (archives/tensorrt-861/.../FoundationalTypes/DataType.html):
            # "uint8 conversions are only supported for {float32, float16} ... not supported
            # for {int8, int32, bool}".
            return f"Cast from {TensorProto.DataType.Name(source)} to UINT8 is not supported"
        return ""

    def _argmax_outputs(self) -> set:
        model = self.network.model
        nodes = model.graph.node if model is not None else []
        return {o for n in nodes if n.op_type == "ArgMax" for o in n.output}


def _elem_types(model: onnx.ModelProto) -> dict:
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    found = {v.name: v.type.tensor_type.elem_type for v in values}
    found.update({t.name: t.data_type for t in model.graph.initializer})
    for node in model.graph.node:
        if node.op_type == "ArgMax":
            for out in node.output:
                found[out] = TensorProto.INT32
    return found


class _Config:
    def __init__(self, trt: FakeTensorRT):
        self.trt, self.flags, self.profiles = trt, set(), []
        self.profiling_verbosity = None

    def set_memory_pool_limit(self, pool, size: int) -> None:
        self.trt.calls.append(("workspace", size))

    def add_optimization_profile(self, profile) -> None:
        self.profiles.append(profile)

    def set_flag(self, flag) -> None:
        self.flags.add(flag.name)
        self.trt.calls.append(("flag", flag.name))

    def create_timing_cache(self, data: bytes):
        return data

    def set_timing_cache(self, cache, ignore_mismatch: bool) -> None:
        pass

    def get_timing_cache(self):
        return types.SimpleNamespace(serialize=lambda: b"TIMING")


class _Profile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, lo, opt, hi) -> None:
        self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))


class _Builder:
    def __init__(self, trt: FakeTensorRT):
        self.trt = trt

    def create_network(self, flags: int = 0) -> _Network:
        self.trt.calls.append(("network", flags))
        explicit = getattr(self.trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
        if explicit is not None and self.trt.major >= 10 and flags & (1 << int(explicit)):
            self.trt.calls.append(("deprecated", "EXPLICIT_BATCH"))  # ignored from 10 on
        return _Network(flags)

    def create_builder_config(self) -> _Config:
        return _Config(self.trt)

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes:
        self.trt.calls.append(("build",))
        model = network.model
        strongly = bool(network.flags & (1 << 1)) and self.trt.major >= 10
        types_of = _elem_types(model)
        convs = sum(n.op_type == "Conv" for n in model.graph.node)
        dq_out = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
        # explicit quantization (Q/DQ in the graph): strongly typed, or the INT8 flag before 11
        explicit = bool(dq_out) and (strongly or "INT8" in config.flags)
        layers = []
        for layer in network.layers:
            node = layer.node
            if strongly:
                half = types_of.get(node.output[0]) == TensorProto.FLOAT16
            else:
                half = (
                    "FP16" in config.flags
                    and not layer.pinned
                    and types_of.get(node.output[0]) == TensorProto.FLOAT
                    and convs >= self.trt.fp16_min_convs
                )
            int8 = explicit and node.op_type == "Conv" and node.input[0] in dq_out
            layers.append({"name": layer.name, "op": layer.op, "half": half, "int8_in": int8})
        dynamic = [
            v.name
            for v in model.graph.input
            if any(not d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)
        ]
        profile = config.profiles[0].shapes if config.profiles else {}
        return json.dumps({"layers": layers, "dynamic": dynamic, "profile": profile}).encode()


class _Runtime:
    def __init__(self, trt: FakeTensorRT):
        self.trt = trt

    def deserialize_cuda_engine(self, plan: bytes):
        return _Engine(self.trt, json.loads(bytes(plan)))


class _Engine:
    def __init__(self, trt: FakeTensorRT, plan: dict):
        self.trt, self.plan = trt, plan
        self.names = list(plan["dynamic"])

    @property
    def num_io_tensors(self) -> int:
        return len(self.names)

    def get_tensor_name(self, i: int) -> str:
        return self.names[i]

    def get_tensor_mode(self, name: str):
        return _Enum("INPUT")

    def get_tensor_shape(self, name: str) -> tuple:
        lo = self.plan["profile"][name][0]
        return (-1, *lo[1:])

    def get_tensor_profile_shape(self, name: str, profile: int):
        return [tuple(s) for s in self.plan["profile"][name]]

    def create_execution_context(self):
        return _Context()

    def create_engine_inspector(self):
        return _Inspector(self)


class _Context:
    def __init__(self):
        self.shapes = {}

    def set_input_shape(self, name: str, shape) -> bool:
        self.shapes[name] = tuple(shape)
        return True


class _Inspector:
    """TensorRT's EngineInspector. The Python attribute holding the context is ``context`` in
    the 8.5 API docs (archives/tensorrt-853/.../Core/EngineInspector.html) and
    ``execution_context`` in 10.x/11.x (latest/.../Core/EngineInspector.html)."""

    def __init__(self, engine: _Engine):
        self._engine = engine
        if engine.trt.major >= 10:
            self.execution_context = None
        else:
            self.context = None

    def _context(self):
        return getattr(self, "execution_context", None) or getattr(self, "context", None)

    def get_engine_information(self, fmt) -> str:
        engine = self._engine
        context = self._context()
        # IEngineInspector::setExecutionContext (C++ API): "Setting the execution context and
        # specifying all the input shapes allows the inspector to calculate concrete dimensions
        # for any dynamic shapes and display their format information. Otherwise ... format
        # information will not be shown."
        known = context is not None and all(n in context.shapes for n in engine.plan["dynamic"])
        layers = []
        for layer in engine.plan["layers"]:
            kind = "CaskConvolution" if layer["op"] == "Conv" else layer["op"]
            if not known:
                out = _format(engine.trt, None)
            else:
                out = _format(engine.trt, layer["half"])
            entry = {"Name": layer["name"], "LayerType": kind, "Outputs": [out]}
            if known and layer.get("int8_in"):
                entry["Inputs"] = [_int8_format(engine.trt)]
            layers.append(entry)
        return json.dumps({"Layers": layers})


def _int8_format(trt: FakeTensorRT) -> dict:
    fmt = "Channel major INT8 format where channel % 32 == 0"
    return {"Format": fmt, "DataType": "Int8"} if trt.major >= 11 else {"Format/Datatype": fmt}


def _format(trt: FakeTensorRT, half: bool | None) -> dict:
    if half is None:
        text = "N/A due to dynamic shapes"
        return {"Format": text, "DataType": text} if trt.major >= 11 else {"Format/Datatype": text}
    fmt = "Row major linear FP16 format" if half else "Row major linear FP32"
    # TensorRT 11 migration guide, "Migrating IEngineInspector Usage from TensorRT 10.x to
    # 11.x" (https://docs.nvidia.com/deeplearning/tensorrt/11.0.0/api/migration/
    # tensorrt-10x-to-11x-IEngineInspector.html): the Format/DataType field is split into
    # "Format" and "DataType" (data types spelled "Half", "Float").
    if trt.major >= 11:
        return {"Format": fmt + " (kLINEAR)", "DataType": "Half" if half else "Float"}
    return {"Format/Datatype": fmt}
