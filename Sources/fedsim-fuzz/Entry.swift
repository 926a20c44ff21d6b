import FedFuzzTargets
import Foundation

#if FUZZING
/// libFuzzer's driver, from the runtime `-sanitize=fuzzer` links in.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The program's entry when built for fuzzing (`-sanitize=fuzzer -DFUZZING`, Scripts/fuzz.sh):
/// SwiftPM names an executable's entry `<module>_main`; this one hands control to libFuzzer,
/// which calls the target `FEDSIM_FUZZ_TARGET` names with every input it makes.
@_cdecl("fedsim_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}

/// One input (also libFuzzer's own entry name, which its runtime's `main` refers to).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let name = ProcessInfo.processInfo.environment["FEDSIM_FUZZ_TARGET"] ?? "wire"
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    (FuzzTarget(rawValue: name) ?? .wire).run(bytes)
    return 0
}
#else
/// Without libFuzzer: replays files through a target (`fedsim-fuzz TARGET FILE...`), the way a
/// crash found by the fuzzer is reproduced.
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        if args.first == "seeds", args.count == 3, let target = FuzzTarget(rawValue: args[args.startIndex + 1]) {
            let dir = args[args.startIndex + 2]
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (i, seed) in target.seeds.enumerated() {
                FileManager.default.createFile(atPath: "\(dir)/seed-\(i)", contents: Data(seed))
            }
            print("\(target.seeds.count) seed(s) in \(dir)")
            return
        }
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: fedsim-fuzz \(names) FILE...\n".utf8))
            exit(2)
        }
        var accepted = 0
        for file in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("error: cannot read \(file)\n".utf8))
                exit(2)
            }
            if target.run([UInt8](data)) { accepted += 1 }
        }
        print("\(target.rawValue): \(args.count - 1) input(s), \(accepted) accepted, no crash")
    }
}
#endif
