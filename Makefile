.PHONY: build test demo clean

build:
	swift build -c release

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

clean:
	rm -rf .build
