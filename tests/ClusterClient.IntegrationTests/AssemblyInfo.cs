// Every test starts several processes on a 2-core machine; running test classes side by side would only
// make them compete for CPU and turn slow starts into flaky timeouts.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
