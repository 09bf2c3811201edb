from definum_gql.cli import main

main()
