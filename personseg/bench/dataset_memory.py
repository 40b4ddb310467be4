"""Peak memory of the steps that read a dataset, the pieces of ``benchmarks/dataset_memory.py``.

Each reader (validate, quantize's images, evaluate with its gallery, the whole-dataset loader) runs in a
fresh process that reports its peak RSS (``ru_maxrss``) after its imports and after reading.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the personseg package, for the readers' path

PRELUDE = """
import resource, sys
from pathlib import Path
data, size, work = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
{imports}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
{body}
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after)
"""

READERS = {
    "validate": ("from personseg.data.validate import validate_dataset",
                 "validate_dataset(str(data), size)"),
    "quantize": ("from personseg.quantize.calibration import as_inputs\n"
                 "from personseg.quantize.step import quantization_images",
                 "sets = quantization_images(data, size, 32)\n"
                 "x = as_inputs(sets.calibration), as_inputs(sets.tune)"),
    "evaluate": ("from personseg.evaluate.step import EvalConfig, run\n"
                 "from personseg.steps.gallery import build_gallery\n"
                 "from tiny_model import make_tiny_model\n"
                 "model = make_tiny_model(work / 'tiny', size)",
                 "run(EvalConfig(models=(f'tiny={model}',), data=str(data), rounds=1, warmup=0, measure_peak=False))\n"
                 "build_gallery(data, size, [('tiny', model)], ('tiny', 'tiny'))"),
    "whole-dataset loader": ("from personseg.data.loading import load_dataset",
                             "load_dataset(data, size)"),
}

# The serving tests' one-layer ONNX model, restated so the benchmark does not import the tests.
TINY_MODEL = '''
import onnx
from onnx import TensorProto, helper
from personseg.modeldir import write_config

def make_tiny_model(directory, image_size):
    directory.mkdir(parents=True, exist_ok=True)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [20.0 / 3] * 3)
    bias = helper.make_tensor("b", TensorProto.FLOAT, [1], [-10.0])
    node = helper.make_node("Conv", ["input", "w", "b"], ["logits"], kernel_shape=[1, 1])
    graph = helper.make_graph([node], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, image_size, image_size])],
        initializer=[weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(directory / "model.onnx"))
    write_config(directory, kind="onnx", precision="fp32", weights="model.onnx", image_size=image_size,
                 arch={"name": "tiny"})
    return directory
'''


def peak_mb(reader: str, data: Path, size: int, work: Path) -> tuple[float, float]:
    """(peak RSS, rise over the process after its imports) in MB of one reader in a fresh process."""
    imports, body = READERS[reader]
    script = PRELUDE.format(imports=imports, body=body)
    (work / "tiny_model.py").write_text(textwrap.dedent(TINY_MODEL))
    out = subprocess.run([sys.executable, "-c", script, str(data), str(size), str(work)], check=True,
                         capture_output=True, text=True, cwd=work,
                         env={"PYTHONPATH": f"{ROOT}:{work}", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    before, after = (int(v) / 1024 for v in out.stdout.split()[-2:])
    return after, after - before
