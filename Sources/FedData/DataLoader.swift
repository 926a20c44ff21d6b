/// Loaders that read files from disk. Every malformed input becomes one `DataError` naming the
/// file (and line, for text formats) rather than a trap, because data files come from users.
public enum DataLoader {}
