package zdctl_test

func commands() map[string]func() {
	return map[string]func(){"zdctl": zdctlMain}
}
