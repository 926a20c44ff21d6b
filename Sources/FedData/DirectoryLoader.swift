import Foundation

extension DataLoader {
    /// File extensions read by `directory(path:task:)`; `.txt` files are LIBSVM.
    public static let partitionFileExtensions = ["csv", "svm", "libsvm", "txt"]

    /// Loads a naturally partitioned data set: one client per `*.csv`, `*.svm`, `*.libsvm` or
    /// `*.txt` (LIBSVM) file in `path`, in file-name order. All clients get the same feature
    /// count (LIBSVM files are widened to the largest index over all files) and, for
    /// classification, the same class count (the largest over all files), so one model fits all.
    public static func directory(path: String, labelColumn: String? = nil, task: DataTask) throws -> [Dataset] {
        let names = try partitionFileNames(in: path)
        let files = try names.map { name in
            try ClientFile.load(
                path: (path as NSString).appendingPathComponent(name), labelColumn: labelColumn, task: task)
        }
        let featureCount = try commonFeatureCount(files)
        var datasets = try files.map { try $0.dataset(featureCount: featureCount) }
        if task == .classification { unifyClassCount(&datasets) }
        return datasets
    }

    private static func partitionFileNames(in path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError(file: path, message: "no such directory")
        }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            throw DataError(file: path, message: "cannot list directory")
        }
        let names = entries.filter { name in
            !name.hasPrefix(".") && partitionFileExtensions.contains((name as NSString).pathExtension.lowercased())
        }.sorted()
        guard !names.isEmpty else {
            throw DataError(
                file: path, message: "no client files (*.\(partitionFileExtensions.joined(separator: ", *.")))")
        }
        return names
    }

    /// CSV files fix their width; LIBSVM files adapt to it (or to their largest index).
    private static func commonFeatureCount(_ files: [ClientFile]) throws -> Int {
        var fixed: (count: Int, file: String)?
        for case .csv(let path, let data) in files {
            if let fixed, fixed.count != data.featureCount {
                throw DataError(
                    file: path, message: "has \(data.featureCount) features but \(fixed.file) has \(fixed.count)")
            }
            fixed = (data.featureCount, path)
        }
        let sparseMax = files.compactMap { file -> (Int, String)? in
            if case .libsvm(let rows) = file { return (rows.maxIndex, rows.file) }
            return nil
        }.max { $0.0 < $1.0 }
        guard let fixed else { return sparseMax?.0 ?? 0 }
        if let (width, file) = sparseMax, width > fixed.count {
            throw DataError(
                file: file, message: "uses feature index \(width) but \(fixed.file) has only \(fixed.count) features")
        }
        return fixed.count
    }

    private static func unifyClassCount(_ datasets: inout [Dataset]) {
        let classCount = datasets.map(\.classCount).max() ?? 0
        for i in datasets.indices {
            if case .classes(let labels, _) = datasets[i].targets {
                datasets[i].targets = .classes(labels, classCount: classCount)
            }
        }
    }
}

/// One client's file, parsed but (for LIBSVM) not yet densified.
private enum ClientFile {
    case csv(path: String, data: Dataset)
    case libsvm(SparseRows)

    static func load(path: String, labelColumn: String?, task: DataTask) throws -> ClientFile {
        if (path as NSString).pathExtension.lowercased() == "csv" {
            return .csv(path: path, data: try DataLoader.csv(path: path, labelColumn: labelColumn, task: task))
        }
        return .libsvm(try SparseRows(file: path, bytes: TextParsing.readFile(path), featureLimit: nil, task: task))
    }

    func dataset(featureCount: Int) throws -> Dataset {
        switch self {
        case .csv(_, let data): data
        case .libsvm(let rows): try rows.dataset(featureCount: featureCount)
        }
    }
}
