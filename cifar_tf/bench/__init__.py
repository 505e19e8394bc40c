"""`python -m cifar_tf bench`: how fast this machine trains and serves, every figure measured here.

The parent (`run`) runs each section and prints the tables (`tables`); the measurements
themselves are tasks (`training`, `app`), each run in a child process.

Sections (each a table):

- throughput: training images/s and time per 45,000-image epoch of every architecture at its
  defaults (batch 64, Adam, no augmentation), on random images after a warm-up;
- pipeline: simple_cnn fed by Keras' ImageDataGenerator, by our in-graph `seed001` augmentation,
  and with no augmentation, in one process, epochs taken in turn so that a change of load on a
  shared machine hits all three alike; steady state (the first epoch of each is left out);
- presets: time-to-accuracy of the fast preset (test accuracy after every epoch, the clock
  stopped while it is measured), beside the first report's recipe for reference;
- memory: peak resident memory of each process that trained a preset (a column of that table);
- app: time from `streamlit run` to a healthy server, the first page's script run, and the
  latency of one prediction on a loaded model.

Every heavy measurement runs in a child process (`python -m cifar_tf.bench TASK ARGS`), so
each starts clean (precision policy, caches) and its peak memory is its own. Wall time is what
the tables report; the CPU time beside it tells how much of the machine the work really took,
which matters where other jobs share the cores. `--quick` keeps every section but measures less,
in about five minutes on a 2-core machine.
"""
