// rampart-fuzz TARGET [libFuzzer options] [CORPUS…]
//
// Built by fuzz/run.sh with -sanitize=fuzzer,address and -DFUZZING, it is a libFuzzer binary for
// TARGET. Built normally, it replays the files and directories given through TARGET (the seed
// corpora in fuzz/corpus/TARGET, crash reproducers) and reports how many inputs it ran: the
// smoke run of the test suite, and how a crash is checked once fixed.
import FoundationEssentials
import Glibc

let arguments = CommandLine.arguments
func complain(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    complain("usage: rampart-fuzz TARGET [options] [corpus…]; targets: \(names)\n")
    exit(2)
}
// The C callback cannot capture: the target is global, set once before the driver runs.
nonisolated(unsafe) var selected = target

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    var driverArguments: [UnsafeMutablePointer<CChar>?] =
        ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
    var argc = Int32(driverArguments.count - 1)
    let status = driverArguments.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var argv = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
    }
    exit(status)
#else
    var inputs = 0
    for path in arguments.dropFirst(2) {
        var files: [String] = []
        if let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
            files = names.sorted().map { path + "/" + $0 }
        } else {
            files = [path]
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                complain("rampart-fuzz: cannot read \(file)\n")
                exit(1)
            }
            selected.run(Array(data))
            inputs += 1
        }
    }
    print("\(target.rawValue): \(inputs) inputs replayed")
#endif
