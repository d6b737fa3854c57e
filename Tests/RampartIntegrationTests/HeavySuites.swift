import Testing

/// Suites that load both cores for minutes (the NFLOG flood) or run etcd clusters whose
/// elections need CPU on time (100 ms heartbeats, 1 s election timeout): one at a time, never beside each other.
/// Run in parallel, a clean-clone CI starved the flood (414,000 of 1,000,000 datagrams sent,
/// not reconciled in 60 s) and an etcd cluster that could not elect a leader before the
/// client's deadline.
@Suite(.serialized) struct HeavySuites {}
