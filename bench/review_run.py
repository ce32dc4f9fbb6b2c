"""A run directory of 60,000 samples made without training, to time the review page
(bench/review.sh): MNIST-shaped IDX files of random bytes, three scores with 30 epochs
each, and the verdict's files (6,000 flagged samples). Writes data/ and run/ in the
working directory."""
import json
import os
import struct

import numpy as np

n, c, E = 60000, 10, 30
rng = np.random.default_rng(0)
os.makedirs("data", exist_ok=True); os.makedirs("run/scores", exist_ok=True); os.makedirs("run/predictions", exist_ok=True)
with open("data/images", "wb") as f:
    f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, n, 28, 28)); f.write(rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())
labels = rng.integers(0, c, n)
with open("data/labels", "wb") as f:
    f.write(struct.pack(">BBBBI", 0, 0, 8, 1, n)); f.write(labels.astype(np.uint8).tobytes())
open("run/config.toml", "w").write(f'name = "big"\nseed = 0\n[data]\nformat = "idx"\npath = "{os.path.abspath("data/images")}"\nlabels = "{os.path.abspath("data/labels")}"\n')
np.save("run/labels.npy", labels.astype(np.int64))
json.dump([f"images#{i}" for i in range(n)], open("run/sources.json", "w"))
json.dump([str(k) for k in range(c)], open("run/classes.json", "w"))
for name in ["loss", "curvature", "el2n"]:
    ep = rng.random((E, n), dtype=np.float32)
    np.save(f"run/scores/{name}_epochs.npy", ep); np.save(f"run/scores/{name}.npy", ep.mean(0))
probs = rng.dirichlet(np.ones(c), n).astype(np.float32)
np.save("run/predictions/probs.npy", probs)
np.save("run/predictions/label_prob_epochs.npy", rng.random((E, n), dtype=np.float32))
with open("run/label_issues.csv", "w") as f:
    f.write("rank,index,source,given_label,given_name,given_prob,suggested_label,suggested_name,suggested_prob,flagged_by\n")
    for r, i in enumerate(rng.choice(n, 6000, replace=False), 1):
        s = (labels[i] + 1) % c
        f.write(f"{r},{i},images#{i},{labels[i]},{labels[i]},{probs[i,labels[i]]:.4f},{s},{s},{probs[i,s]:.4f},confident_learning\n")
