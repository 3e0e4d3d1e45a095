package miniotest

// Pid is the process id of the running MinIO server (0 if it is not running), for
// callers that account its CPU time (cmd/strata-bench).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
