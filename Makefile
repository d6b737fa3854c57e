.PHONY: build test demo install clean

build:
	swift build -c release

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

install:
	./scripts/install.sh

clean:
	rm -rf .build
