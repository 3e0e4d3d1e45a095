//go:build !unix

package segment

func readTailOS(path string, entrySize int64) ([]byte, error) {
	return readTailFS(OSFS{}, path, entrySize)
}
