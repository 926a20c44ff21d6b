/// Every key a topology accepts, section by section: the one list the parser checks files
/// against (an unknown key is an error naming the closest one) and `docs/TOPOLOGY.md` is
/// checked against (`TopologyDocTests`: every key documented in its section, no documented key
/// that does not exist). The optimizer block's keys live with the optimizers (`OptimizerSpec.Key`).
public enum TopologyKeys {
    public static let sections: [(section: String, keys: [String])] = [
        (
            "",
            [
                "name", "seed", "data_seed", "train_seed", "rounds", "threads", "data", "partition", "model", "clients",
                "server", "cluster", "metrics", "clock",
            ]
        ),
        (
            "clock",
            [
                "seconds_per_sample", "speed", "latency", "upload", "download", "availability", "sample_online",
                "deadline", "late", "overcommit", "trace",
            ]
        ),
        ("clock.lognormal", ["median", "sigma"]),
        ("metrics", ["global_train_loss", "client_accuracy"]),
        (
            "data",
            [
                "source", "path", "label_column", "images", "labels", "targets", "count", "test_count", "features",
                "classes",
                "noise", "spread", "alpha", "beta", "alpha_beta", "iid", "max_client_samples", "task", "test_fraction",
                "validation_fraction", "validation", "standardize", "normalize", "shape",
            ]
        ),
        ("partition", ["scheme", "alpha", "classes_per_client"]),
        ("model", ["kind", "hidden", "bias", "preset", "layers", "init", "batch_norm"]),
        (
            "model.layers",
            ["layer", "units", "channels", "kernel", "stride", "padding", "bias", "p", "groups", "body", "shortcut"]
        ),
        (
            "clients",
            [
                "count", "per_round", "fraction", "local", "optimizer", "state", "groups", "aggregate", "stragglers",
                "sampling",
            ]
        ),
        ("clients.stragglers", ["fraction", "policy"]),
        ("clients.local", ["epochs", "steps", "batch_size"]),
        ("clients.groups", ["name", "clients", "optimizer", "state"]),
        ("clients.aggregate", ["moments", "weighting"]),
        ("cluster.curve", ["coordinator", "clients"]),
        (
            "server",
            ["strategy", "lr", "momentum", "beta1", "beta2", "tau", "bias_correction", "mu", "proximal", "trim"]
        ),
        (
            "cluster",
            [
                "endpoint", "processes", "heartbeat_interval", "liveness", "round_timeout", "quorum",
                "on_quorum_failure", "retries", "join_timeout", "curve", "insecure", "peer_queue_bytes",
            ]
        ),
    ]

    /// The keys of `section` (`""` is the top level).
    public static func of(_ section: String) -> Set<String> {
        Set(sections.first { $0.section == section }!.keys)
    }
}
