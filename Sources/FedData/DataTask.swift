/// What the targets of a loaded file mean: class labels or real values. Loaders need it because
/// a column of small integers is valid for both and only the caller knows which is intended.
///
/// Named `DataTask`, not `Task`: a public top-level `Task` here would shadow Swift concurrency's
/// `Task` in every module that imports FedData (`Task { … }` stops compiling there).
public enum DataTask: String, Sendable, CaseIterable {
    case classification, regression
}

extension DataLoader {
    /// The loaders' `task:` parameter type, spelled `DataLoader.Task` where that reads better.
    public typealias Task = DataTask
}
