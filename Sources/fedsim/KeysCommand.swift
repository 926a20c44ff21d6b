import ArgumentParser
import FedCluster
import FedTransportZMQ
import Foundation

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "CURVE keys for coordinators and client processes (cluster.curve in docs/TOPOLOGY.md).",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (public).",
            discussion: """
                Give NAME.pub to whoever needs to know this process: the coordinator's goes to every \
                process (cluster.curve.coordinator), each client process's goes on the coordinator's \
                allow-list (cluster.curve.clients) with the ids it may hold. Never overwrites a key.

                Examples:
                  fedsim keys generate coordinator --dir keys
                  fedsim keys generate site-a --dir keys && echo "site-a.pub 0-49" >> keys/clients.txt
                """)

        @Argument(help: "The key's name (letters, digits, '-', '_', '.').") var name: String
        @Option(help: "Directory to write the files to.") var dir: String = "keys"

        func validate() throws {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }),
                !name.hasPrefix(".")
            else { throw ValidationError("NAME may only hold letters, digits, '-', '_' and '.'") }
        }

        func run() throws {
            try reportingInputErrors {
                guard CurveKeyPair.isAvailable else {
                    throw InputError("this libzmq was built without CURVE (libsodium); install Debian's libzmq3-dev")
                }
                let keys = try CurveKeyPair.generate()
                let (key, pub) = try CurveKeyFile.write(keys, directory: URL(fileURLWithPath: dir), name: name)
                print("\(key.path)  (secret: keep it on this machine)")
                print("\(pub.path)  \(keys.publicKey)")
            }
        }
    }
}
