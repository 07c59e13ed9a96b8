"""Installs the `patentpanel` package from lib/patentpanel (``pip install -e .[dev]``).

Pins and why (measured on the project's 2-core / Java 17 / Python 3.11 machines; see
../shared/docs/environment-notes.md and README "Versions"):
- pyspark 4.2.0: runs on Java 17; the newest release delta-spark 4.4.1 accepts
  (it pins pyspark<=4.2.0), so clusters can run Spark's own Delta with the same code.
- pandas 2.3.x: pyspark 4.x warns that pandas 3 is unsupported and pyspark.pandas fails
  to import with it; 2.3.3 works with toPandas/toArrow/pandas_udf/mapInPandas.
- numpy 2.3.x: what pandas 2.3 and scipy 1.17 are built against; below 2.4, where
  np.in1d was removed (pydynpd, the GMM benchmark's peer, still calls it).
- pyarrow 22: above pyspark's minimum (18) and deltalake's tested floor (21).
- deltalake 1.6.6 (delta-rs): the embedded Delta engine. Its to_pyarrow_table /
  to_pyarrow_dataset / to_pandas can abort the process at exit (delta-rs#2184), so
  patentpanel never calls them: reads go through the file list of a version.
- setuptools<81 at install time: cpca (address parser) imports pkg_resources.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "lib" / "patentpanel" / "__init__.py").read_text()).group(1)

CORE = [
    "pyspark==4.2.0",
    "pandas==2.3.3",
    "numpy==2.3.5",
    "pyarrow==22.0.0",
    "deltalake==1.6.6",
    "pyyaml>=6.0,<7",
    "scipy>=1.14,<1.18",
    "statsmodels>=0.14.4,<0.16",
    "linearmodels>=6.1,<8",
    "python-igraph>=0.11,<1.1",
    "networkx>=3.3,<3.7",
    "pyahocorasick>=2.1,<3",
    # address -> region (2016-2021 division data, MIT); it imports pkg_resources, which
    # setuptools 81 removed
    "cpca==0.5.5",
    "setuptools<81",
    # traditional -> simplified applicant names and addresses
    "opencc>=1.1,<2",
    # review spreadsheets (XLSX), report tables (DOCX), figures
    "openpyxl>=3.1,<4",
    "python-docx>=1.1,<2",
    "matplotlib>=3.8,<4",
    # one BLAS thread inside Spark tasks (placebo, bootstrap, Monte Carlo replications)
    "threadpoolctl>=3.5,<4",
]

EXTRAS = {
    # Tests and benchmarks: independent readers for the Delta format check, pytest, and
    # nbclient + ipykernel to run the notebooks top to bottom (tests/pipeline/test_notebooks.py).
    "dev": ["pytest>=8", "duckdb>=1.1", "nbclient==0.11.0", "nbformat==5.11.1", "ipykernel==7.4.0"],
    # What clusters add: Spark's own Delta Python API (its JARs come from
    # spark-submit.sh --with-packages or --jars) and venv-pack for --pack-env.
    "cluster": ["delta-spark==4.4.1", "graphframes-py==0.12.3", "venv-pack>=0.2"],
}

setup(
    name="patentpanel",
    version=VERSION,
    description="Raw CNIPA-style patent records to city-level evidence on AI innovation "
                "(PySpark + Delta; System-GMM, FE, 2SLS, NB).",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    include_package_data=True,
    python_requires=">=3.10,<3.13",
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["patentpanel=patentpanel.cli:main"]},
)
