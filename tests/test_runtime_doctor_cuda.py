"""`edgedg doctor` and `edgedg-runtime doctor` ask the CUDA runtime (devices, driver and runtime
versions) and say which cuda-python to install when the bindings do not match the driver /
JetPack; a fake cudart."""

from __future__ import annotations

import pytest

from edgedg_runtime import doctor


class _Err:
    def __init__(self, name: str = "cudaSuccess", value: int = 0):
        self.name, self.value = name, value


class FakeCudart:
    def __init__(self, driver: int, runtime: int, devices: int = 1, count_error: int = 0):
        self.driver, self.runtime, self.devices, self.count_error = (
            driver,
            runtime,
            devices,
            count_error,
        )

    def cudaGetDeviceCount(self):  # noqa: N802
        if self.count_error:
            return (_Err("cudaErrorInsufficientDriver", self.count_error), 0)
        return (_Err(), self.devices)

    def cudaDriverGetVersion(self):  # noqa: N802
        return (_Err(), self.driver)

    def cudaRuntimeGetVersion(self):  # noqa: N802
        return (_Err(), self.runtime)


def test_matching_bindings_report_versions_and_devices() -> None:
    f = doctor.check_cuda_runtime(FakeCudart(12080, 12060), bindings="12.6.2", l4t=None)
    assert f.ok and f.fix == ""
    assert "driver CUDA 12.8" in f.detail and "runtime 12.6" in f.detail and "1 device" in f.detail


@pytest.mark.parametrize(
    ("l4t", "driver", "bindings", "pin"),
    [
        ((36, 4), 12060, "13.0.1", "cuda-python>=12,<13"),  # JetPack 6 with the newest bindings
        ((35, 5), 11040, "12.6.0", "cuda-python>=11.8,<12"),  # JetPack 5 needs 11.8.x
        (None, 12040, "13.0.0", "cuda-python>=12,<13"),  # a desktop driver of CUDA 12.4
    ],
)
def test_bindings_newer_than_the_driver_say_what_to_install(l4t, driver, bindings, pin) -> None:
    f = doctor.check_cuda_runtime(FakeCudart(driver, driver), bindings=bindings, l4t=l4t)
    assert not f.ok and f"pip install '{pin}'" in f.fix


def test_no_usable_device_is_reported() -> None:
    broken = FakeCudart(12020, 13000, count_error=35)
    f = doctor.check_cuda_runtime(broken, bindings="13.0.0", l4t=(36, 3))
    assert not f.ok and "cudaErrorInsufficientDriver" in f.detail
    assert "cuda-python>=12,<13" in f.fix
    none = doctor.check_cuda_runtime(FakeCudart(12080, 12080, devices=0), "12.8.0", None)
    assert not none.ok and "no CUDA device" in none.detail
