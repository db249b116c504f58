"""Packaging for instanceha: the Python package only (make install adds agents and man pages)."""

from setuptools import find_packages, setup

setup(
    name="instanceha",
    version="0.1.0",
    description="Instance high availability for OpenStack on Pacemaker: OCF and fence agents",
    license="Apache-2.0",
    python_requires=">=3.11",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"instanceha": ["py.typed"]},
    extras_require={
        "nova": ["keystoneauth1", "python-novaclient", "PyYAML"],
        "ipmi": ["pyghmi"],
        "libvirt": ["libvirt-python"],
    },
    entry_points={"console_scripts": ["instanceha=instanceha.cli.main:main"]},
)
