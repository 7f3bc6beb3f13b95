// lowbit-bench: see LowbitBench (the command line) and KernelBenchmarks.swift (what it measures).
LowbitBench.main()
