"""The wheel holds libpadir, a native library loaded through ctypes (no Python extension): it is
tagged for the platform but for any Python 3 (py3-none-<platform>). Build it with
scripts/build-wheel.sh, which puts the library into the package first."""

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.dist import Distribution


class NativeLibraryDistribution(Distribution):
    def has_ext_modules(self):
        return True  # a platform wheel, not a pure one


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=NativeLibraryDistribution, cmdclass={"bdist_wheel": PlatformWheel})
