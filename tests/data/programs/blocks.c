/* Reads from a pipe nobody writes to: a call that blocks outside qfuzz's control. */
#include <unistd.h>

int main(void)
{
	int fds[2];
	char c;

	if (pipe(fds) != 0)
		return 2;
	return (int)read(fds[0], &c, 1);
}
