/*
 * Guest side of `cargo bench --bench process`: the program that forkexec
 * execs. A static musl `true`, so the host and the guest exec the very same
 * binary rather than whatever /bin/true each happens to have.
 */
int main(void)
{
	return 0;
}
