public enum FedBench {}
