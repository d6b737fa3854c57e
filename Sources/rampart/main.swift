import ArgumentParser

Rampart.main(normalizedArguments(Array(CommandLine.arguments.dropFirst())))
