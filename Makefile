.PHONY: build test demo install deb clean

build:
	swift build -c release

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

install:
	./scripts/install.sh

# The Debian package: dist/rampart_VERSION_amd64.deb (debian/README.source).
deb:
	./scripts/build-deps.sh
	dpkg-buildpackage -us -uc -b
	mkdir -p dist
	v=$$(dpkg-parsechangelog -S Version); for f in ../rampart_$${v}_amd64.* ../rampart-dbgsym_$${v}_amd64.deb; do \
		[ ! -e "$$f" ] || mv "$$f" dist/; done
	ls -l dist/

clean:
	rm -rf .build dist
