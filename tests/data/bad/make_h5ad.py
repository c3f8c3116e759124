"""Writes the broken AnnData files of the bad-input corpus (tests/bad_inputs.rs).

Run once with anndata and h5py installed (`pip install anndata h5py`); the
files it writes are committed, so the Rust tests need no Python.
"""
import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp


def small(x):
    n, m = x.shape
    obs = pd.DataFrame({"cell_type": pd.Categorical(["T", "B", "NK", "T"][:n] * (n // 4 + 1))[:n]},
                       index=[f"cell{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"gene{j}" for j in range(m)])
    return ad.AnnData(X=x, obs=obs, var=var)


ad.AnnData(X=np.zeros((0, 5), dtype=np.float32),
           var=pd.DataFrame(index=[f"gene{j}" for j in range(5)])).write_h5ad("h5ad_zero_cells.h5ad")

x = np.arange(24, dtype=np.float32).reshape(4, 6)
x[2, 3] = np.nan
small(x).write_h5ad("h5ad_nan_dense.h5ad")

x = np.zeros((4, 6), dtype=np.float32)
x[0, 1], x[1, 4], x[3, 2] = 3, np.inf, np.nan
small(sp.csr_matrix(x)).write_h5ad("h5ad_nan_sparse.h5ad")

small(np.ones((4, 3), dtype=np.float32)).write_h5ad("h5ad_string_x.h5ad")
with h5py.File("h5ad_string_x.h5ad", "r+") as f:
    del f["X"]
    f.create_dataset("X", data=np.array([["1", "2", "x"]] * 4, dtype=h5py.string_dtype()))
