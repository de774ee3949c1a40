using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Bmcast.Benchmarks.StreamingReadBenchmarks).Assembly).Run(args);
